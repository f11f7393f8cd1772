from devkit.sample_data.cli import main

main()
