/* SPDX-License-Identifier: MIT */
/* The names and texts of the error codes, from the one list in errors.h. */
#include "errors.h"

const char *ac_strerror(int code)
{
    switch (code) {
#define AC_ERRNO_TEXT(name, value, text) \
    case value: return text;
        AC_ERRNO_MAP(AC_ERRNO_TEXT)
#undef AC_ERRNO_TEXT
    }
    return "unknown error";
}

const char *ac_errname(int code)
{
    switch (code) {
#define AC_ERRNO_NAME(name, value, text) \
    case value: return #name;
        AC_ERRNO_MAP(AC_ERRNO_NAME)
#undef AC_ERRNO_NAME
    }
    return "E?";
}
