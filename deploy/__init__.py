"""Build, deploy and roll back releases; fabfile.py wires these into fab tasks.

A release is the project's tracked files plus what conf/deploy.map adds,
unpacked into <root>/releases/<UTC timestamp> on each server; <root>/current
points at the one being served. See the README's Deployment section.
"""
