from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from devices.history import EventCounter, event_counter_register
        from reports.rollups import rollups_add, rollups_move_models  # reads the models, loaded by now

        # Every event the device history appends is counted into the rollups in the same
        # transaction; devices sits below reports in the layers and calls this through its registry.
        event_counter_register(EventCounter(add=rollups_add, move_models=rollups_move_models))
