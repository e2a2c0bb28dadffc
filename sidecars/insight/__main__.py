"""wilton-insight: periodic analysis with LLM recommendations (see README.md)."""
from sidecars.insight.cli import main

raise SystemExit(main())
