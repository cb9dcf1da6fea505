from gateway.runtime.cli import main

main()
