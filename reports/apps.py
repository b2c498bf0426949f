from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from devices.history import EventCounter, event_counter_register
        from reports.rollups import daily_add, orders_add, rollups_move_models  # reads the models

        # Every event the device history appends is counted into the orders and the rollups in the
        # same transaction; devices sits below reports in the layers and calls this through its registry.
        event_counter_register(
            EventCounter(add=orders_add, add_daily=daily_add, move_models=rollups_move_models)
        )
