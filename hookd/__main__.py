from hookd.cli.app import main

main()
