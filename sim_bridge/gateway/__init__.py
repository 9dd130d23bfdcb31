"""The by-wire gateway: the vehicle side of the CAN link, used by every simulator as its actuator."""

from .bywire import Actuation, ByWireGateway, DriverInputs, GatewayParams, VehicleMeasurement

__all__ = ["Actuation", "ByWireGateway", "DriverInputs", "GatewayParams", "VehicleMeasurement"]
