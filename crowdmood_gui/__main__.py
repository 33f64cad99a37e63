from crowdmood_gui.cli import main

raise SystemExit(main())
