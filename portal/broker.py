"""The embedded default's Celery broker: kombu's filesystem transport, made safe against readers that
are quicker than writers and against writers that are killed.

kombu writes a message into its final file in place. A worker listing the queue folder at that moment
moves the file away and reads it before its content is there: the message is empty, JSON refuses it,
and the worker stops with "Unrecoverable error" (seen with a worker reading what beat was writing).
A writer killed between creating the file and writing it leaves an empty message for good. Here a
message is written whole under a name no reader takes, then renamed to its final name, which is
atomic; and a message that cannot be read is dropped with a log line instead of stopping the worker
(the batches' sweep and beat's schedule enqueue again whatever such a message asked for).
"""

import logging
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs) -> None:
        # The same name as kombu gives (readers take "<time>_<id>.<queue>.msg" in name order), first
        # written with a leading dot and a suffix, which no queue's pattern matches.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    def _get(self, queue):
        while True:
            try:
                return super()._get(queue)
            except ValueError:  # an empty or cut message; kombu has already taken its file away
                logger.error(
                    "Dropped an unreadable message from the %s queue of the filesystem broker", queue
                )


class Transport(filesystem.Transport):
    Channel = Channel
