from genesys_export.cli import main

main()
