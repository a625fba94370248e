"""flughafendb: the airport database the site reads but does not own, in one place.

- `models`: the airports and their locations, which both `flights` and `weather` read (so
  they live below both apps);
- `router`: its models (the unmanaged ones here and in `passengers` and `flights`) go to the
  `flughafendb` database alias, and no migration ever runs there;
- `readonly`: a guard on that connection refuses every write (only the demo data loader may);
- `schema`: the tables, created from schema/{mysql,sqlite}.sql (the single source of truth;
  tests/test_schema.py fails when the models drift from them);
- `demo_data` and `manage.py load_demo_data`: generated, deterministic data around today
  (`signals.data_changed` tells the apps that keep the tables in memory);
- `testing`: what the test suite needs (a schema and the tiny data set on the test database).

The other models stay with their domain (passengers/models.py, flights/models.py).
"""
