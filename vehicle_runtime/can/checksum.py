"""CRC-8 SAE J1850 (poly 0x1D, init 0xFF, final xor 0xFF; check value of "123456789" is 0x4B)."""

from __future__ import annotations


def _table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_TABLE = _table(0x1D)


def crc8_sae_j1850(data: bytes | bytearray) -> int:
    crc = 0xFF
    for b in data:
        crc = _TABLE[crc ^ b]
    return crc ^ 0xFF


def frame_checksum(arbitration_id: int, data: bytes | bytearray) -> int:
    """The project's frame checksum: covers the address, so a frame on the wrong id fails too."""
    return crc8_sae_j1850(bytes((arbitration_id & 0xFF, (arbitration_id >> 8) & 0xFF)) + bytes(data[:7]))
