from cs_platform.sample_data.cli import main

main()
