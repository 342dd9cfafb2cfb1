"""NELC's xAPI vocabulary (github.com/nelc/NELC-Integration, README "Concepts, Verbs and Activity")."""

from __future__ import annotations

VERBS = {
    "registered": "http://adlnet.gov/expapi/verbs/registered",
    "initialized": "http://adlnet.gov/expapi/verbs/initialized",
    "watched": "https://w3id.org/xapi/acrossx/verbs/watched",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "attended": "http://adlnet.gov/expapi/verbs/attended",
    "progressed": "http://adlnet.gov/expapi/verbs/progressed",
    "rated": "http://id.tincanapi.com/verb/rated",
    "earned": "http://id.tincanapi.com/verb/earned",
    "attempted": "http://adlnet.gov/expapi/verbs/attempted",
}
VERB_NAMES = {iri: name for name, iri in VERBS.items()}

COURSE = "https://w3id.org/xapi/cmi5/activitytype/course"
UNIT_TEST = "http://id.tincanapi.com/activitytype/unit-test"
CERTIFICATE = "https://www.opigno.org/en/tincan_registry/activity_type/certificate"
LESSON = "http://adlnet.gov/expapi/activities/lesson"
VIDEO = "https://w3id.org/xapi/video/activity-type/video"
MODULE = "http://adlnet.gov/expapi/activities/module"

EXT_ATTEMPT_ID = "http://id.tincanapi.com/extension/attempt-id"
EXT_BROWSER = "http://id.tincanapi.com/extension/browser-info"
EXT_JWS_CERTIFICATE = "http://id.tincanapi.com/extension/jws-certificate-location"
EXT_PLATFORM = "https://nelc.gov.sa/extensions/platform"
EXT_LMS_URL = "https://nelc.gov.sa/extensions/lms_url"
EXT_PROGRAM_URL = "https://nelc.gov.sa/extensions/program_url"
EXT_DURATION = "https://nelc.gov.sa/extensions/duration"
EXT_LEARNER_FULL_NAME = "https://nelc.gov.sa/extensions/learner_full_name"
EXT_PROGRAM_ID = "https://nelc.gov.sa/extensions/program_id"

#: Where each context extension may appear (checklist items 16-20): the platform names in every
#: statement, registration-only extensions only in ``registered``, attempt-id only in
#: ``attempted``, the certificate location only in ``earned``, browser info where an LMS reports it.
ALLOWED_EXTENSIONS: dict[str, frozenset[str]] = {
    "registered": frozenset({EXT_PLATFORM, EXT_LMS_URL, EXT_PROGRAM_URL, EXT_DURATION, EXT_LEARNER_FULL_NAME,
                             EXT_PROGRAM_ID}),
    "initialized": frozenset({EXT_PLATFORM}),
    "progressed": frozenset({EXT_PLATFORM}),
    "completed": frozenset({EXT_PLATFORM, EXT_BROWSER}),
    "watched": frozenset({EXT_PLATFORM, EXT_BROWSER}),
    "attended": frozenset({EXT_PLATFORM, EXT_BROWSER}),
    "rated": frozenset({EXT_PLATFORM}),
    "attempted": frozenset({EXT_PLATFORM, EXT_BROWSER, EXT_ATTEMPT_ID}),
    "earned": frozenset({EXT_PLATFORM, EXT_JWS_CERTIFICATE, EXT_PROGRAM_ID}),
}
#: The object type each verb acts on (checklist item 10), where the guide fixes one.
OBJECT_TYPES: dict[str, frozenset[str]] = {
    "registered": frozenset({COURSE}), "initialized": frozenset({COURSE}), "progressed": frozenset({COURSE}),
    "watched": frozenset({VIDEO}), "attempted": frozenset({UNIT_TEST}), "earned": frozenset({CERTIFICATE}),
    "completed": frozenset({COURSE, LESSON, MODULE}),
}
