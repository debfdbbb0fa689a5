from camcast.cli import main

raise SystemExit(main())
