"""The course catalog every sandbox and test shares.

``validity_months`` is what the generator assumes when it makes certifications
that have lapsed; the credential rules under ``include/`` stay authoritative
for the pipeline. ``scored`` courses end in passed/failed with a score;
unscored ones end in ``completed``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Course:
    """One LMS course as the LMS and the LRS name it."""

    course_code: str
    title: str
    scored: bool
    validity_months: int | None


COURSES: tuple[Course, ...] = (
    Course("CPR-101", "CPR & AED", scored=True, validity_months=24),
    Course("FIRSTAID-110", "First aid", scored=True, validity_months=24),
    Course("FORKLIFT-200", "Forklift operator", scored=True, validity_months=36),
    Course("HAZMAT-300", "Hazardous materials handling", scored=True, validity_months=24),
    Course("SAFETY-100", "Annual workplace safety", scored=False, validity_months=12),
    Course("FORKLIFT-210", "Forklift recertification", scored=True, validity_months=36),
)

COURSES_BY_CODE: dict[str, Course] = {course.course_code: course for course in COURSES}


def activity_id(tenant_id: str, course_code: str) -> str:
    """The xAPI activity IRI of a course in a tenant's LMS."""
    return f"https://lms.{tenant_id}.example/courses/{course_code}"


def lms_home_page(tenant_id: str) -> str:
    """The ``account.homePage`` of a tenant's LMS accounts."""
    return f"https://lms.{tenant_id}.example"
