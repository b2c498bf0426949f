"""The batch page's size limit on uploads, applied while the request body arrives.

Django's own upload handlers keep a file in memory, then in a temporary file, whatever its size: a
150 MB body would be read and written whole before the form could say that it is too large.
``UploadLimit`` goes first among the batch page's handlers (``batches.views.batch_new``): it counts
the bytes of uploaded files as they arrive, hands them on while they are within the limit, and stops
reading the request once they pass it. The form then refuses the stand-in it leaves
(``RefusedUpload``) with the sentence it gives any file too large.
"""

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.datastructures import MultiValueDict

# What a form within the limits sends besides its file: the text fields Django takes
# (DATA_UPLOAD_MAX_MEMORY_SIZE) and this much for the multipart framing.
_FRAMING_BYTES = 1024 * 1024
# After a stop, a rest of the body this small is read and dropped, so that the connection stays
# usable and a proxy in front (which lets bodies a little past the limit through, see
# docs/operations.md) reads the answer; a longer rest is left unread.
_DRAIN_BYTES = 2 * 1024 * 1024


class RefusedUpload(UploadedFile):
    """Stands for a file whose upload was stopped past the limit: its name and a size past the
    limit (the bytes received, or the length the request declared), and no content."""

    def __init__(self, *, name: str, size: int) -> None:
        super().__init__(file=None, name=name, content_type="application/octet-stream", size=size)

    def open(self, mode=None):
        raise ValueError("This upload was stopped past the size limit: it has no content.")

    def close(self) -> None:
        pass


class UploadLimit(FileUploadHandler):
    """Stops reading a request once its uploaded files pass ``max_bytes``.

    A request that declares a length past what a form within the limits can send is stopped at its
    first file, before any of the file is read; any other is stopped at the chunk that passes the
    limit. Django's handlers after this one store at most ``max_bytes`` (and nothing after a stop:
    they close and delete what they had). ``refused`` is then the stand-in for the form, and the
    fields that came before the file (the CSRF token, the action, the mode) are read as usual.
    """

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.received = 0  # bytes of uploaded files, all files of the request together
        self.declared = 0  # the request's Content-Length
        self.refused: RefusedUpload | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        self.declared = content_length  # and Django's parser reads the body

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if fields is not None and self.declared > self.max_bytes + fields + _FRAMING_BYTES:
            self._stop()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self._stop()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler gives the file

    def _stop(self) -> None:
        self.refused = RefusedUpload(name=self.file_name or "", size=max(self.received, self.declared))
        raise StopUpload(connection_reset=self.declared - self.received > _DRAIN_BYTES)

    def files(self, files: MultiValueDict) -> MultiValueDict:
        """The request's files, with the stand-in of a stopped upload under its field's name."""
        if self.refused is None:
            return files
        files = files.copy()
        files[self.field_name] = self.refused
        return files
