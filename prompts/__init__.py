"""Jinja2 prompt templates, one folder per task kind (rendered by `agent.prompts`).

A package only so that an installed wheel carries the templates as package data beside `agent/`."""
