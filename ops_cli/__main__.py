from ops_cli.cli import main

main()
