"""English date formats with the site's 24-hour clock (Django's "en" says "Jan. 16, 2027,
11:40 p.m."): the admin and every {{ value|date }} without a format follow these. Found through
FORMAT_MODULE_PATH (settings), which Django reads before its own locale formats."""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i T"  # "16 Jan 2027, 23:40 UTC": whose clock it is
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
FIRST_DAY_OF_WEEK = 1  # Monday
# What the admin's forms accept (ISO first); Django's "en" ones otherwise.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y"]
TIME_INPUT_FORMATS = ["%H:%M:%S", "%H:%M"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
