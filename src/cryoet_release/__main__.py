from cryoet_release.cli import main

main()
