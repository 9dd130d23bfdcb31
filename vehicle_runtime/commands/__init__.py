"""Sub-commands of `vehicle-runtime`; each module has add_parser(subparsers) and sets args.run."""
