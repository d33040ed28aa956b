"""`python -m agent` runs the opslayer CLI."""

from agent.cli.app import main

main()
