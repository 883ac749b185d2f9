from mambaenv.cli import main

main()
