"""`python -m chalicelib.manifest`: regenerate `chalicelib/manifest/manifest.json`."""

from chalicelib.manifest.generate import main

raise SystemExit(main())
