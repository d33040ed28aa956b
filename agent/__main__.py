"""`python -m agent` runs the opslayer CLI."""

from agent.cli import main

main()
