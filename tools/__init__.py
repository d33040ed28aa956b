"""Tools that act on ITSM, inventory and procurement systems: protocols, backends, tool specs."""
