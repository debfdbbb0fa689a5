from camcast.cli import entry

entry()
