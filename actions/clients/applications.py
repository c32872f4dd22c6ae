"""Client of the 办件进度 system (contract: backends/openapi/applications.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from actions.clients.core import ServiceClient
from actions.clients.parsing import Reader, read

APPLICATION_NUMBER = re.compile(r"SQ\d{12}")


@dataclass(frozen=True)
class ApplicationEvent:
    state_code: str
    state: str
    at: datetime

    @classmethod
    def read(cls, r: Reader) -> ApplicationEvent:
        return cls(state_code=r.text("state_code"), state=r.text("state"), at=r.moment("at"))


@dataclass(frozen=True)
class Application:
    number: str
    matter: str
    department: str
    applicant_masked: str
    state_code: str  # accepted | reviewing | supplement | approved | rejected
    state: str
    closed: bool
    accepted_at: datetime
    promised_by: date
    timeline: tuple[ApplicationEvent, ...]

    @classmethod
    def read(cls, r: Reader) -> Application:
        return cls(
            number=r.text("number"), matter=r.text("matter"), department=r.text("department"),
            applicant_masked=r.text("applicant_masked"), state_code=r.text("state_code"),
            state=r.text("state"), closed=r.flag("closed"), accepted_at=r.moment("accepted_at"),
            promised_by=r.day("promised_by"), timeline=r.objects("timeline", ApplicationEvent.read),
        )


class ApplicationsClient(ServiceClient):
    service = "applications"

    async def get_application(self, number: str) -> Application:
        """An application by number (``SQ`` + 12 digits; blanks, dashes and case forgiven).
        NotFound when unknown; BackendRejected (number: invalid_format) without a call when the
        text cannot be a number."""
        segment = self._segment(number, "number", APPLICATION_NUMBER)
        data = await self._call("GET", f"/applications/{segment}", route="/applications/{number}")
        return read(data, self.service, "application", Application.read)
