"""Trace viewers: a terminal summary (`terminal.py`) and a static HTML page (`html.py`)."""

from agent.view.html import write_html
from agent.view.terminal import show_trace

__all__ = ["show_trace", "write_html"]
