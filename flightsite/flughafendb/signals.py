"""Signals of the legacy database layer, for the apps above it to listen to."""

from django.dispatch import Signal

# Sent (sender: the Loader) after the demo data loader wrote to the flughafendb tables,
# whether or not it finished: whatever an app keeps of them in memory is out of date.
data_changed = Signal()
