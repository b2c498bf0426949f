from django.apps import AppConfig

from customers.device_reads import DeviceReads, device_reads_provide


class DevicesConfig(AppConfig):
    name = "devices"

    def ready(self) -> None:
        from devices import selectors  # reads the models, loaded by now

        # The customer pages show a customer's devices and their history; customers sits below
        # devices in the layers and does not import it, so it is handed these selectors.
        device_reads_provide(
            DeviceReads(
                last_claim=selectors.customer_last_claim,
                claims_per_week=selectors.customer_claims_per_week,
                devices=selectors.customer_devices,
                history=selectors.customer_events,
            )
        )
