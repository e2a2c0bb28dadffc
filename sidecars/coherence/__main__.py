from sidecars.coherence.cli import main

raise SystemExit(main())
