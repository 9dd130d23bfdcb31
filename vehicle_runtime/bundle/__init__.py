"""Fleet builds: signed bundles (model + config + DBC + vehicle profile), A/B install, health check,
commit or automatic rollback."""
