from spacy_ft.cli import main

main()
