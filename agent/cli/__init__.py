"""The opslayer command line (typer): thin commands over the operations service."""
