# SPDX-License-Identifier: MIT
# Finds every dependency through pkg-config; a missing one stops configure naming the Debian
# package that provides it (scripts/install-deps.sh installs them all).
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install it with `sudo apt-get install pkg-config`")
endif()

function(agentcron_require target module debian_package)
  pkg_check_modules(${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: install it with "
                        "`sudo apt-get install ${debian_package}` (or run scripts/install-deps.sh)")
  endif()
endfunction()

agentcron_require(ICU "icu-uc;icu-i18n" libicu-dev)
agentcron_require(JANSSON jansson libjansson-dev)
agentcron_require(LIBPQ libpq libpq-dev)
agentcron_require(HIREDIS hiredis libhiredis-dev)
agentcron_require(LIBUV libuv libuv1-dev)
agentcron_require(LIBSYSTEMD libsystemd libsystemd-dev)

# mbedTLS 2.28 ships no pkg-config file: find it by hand.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/sha256.h)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDCRYPTO_LIBRARY)
  message(FATAL_ERROR "mbedTLS not found: install it with `sudo apt-get install libmbedtls-dev` "
                      "(or run scripts/install-deps.sh)")
endif()
add_library(agentcron::mbedcrypto UNKNOWN IMPORTED)
set_target_properties(agentcron::mbedcrypto PROPERTIES IMPORTED_LOCATION ${MBEDCRYPTO_LIBRARY}
                      INTERFACE_INCLUDE_DIRECTORIES ${MBEDTLS_INCLUDE_DIR})
find_library(MBEDX509_LIBRARY mbedx509)
find_library(MBEDTLS_LIBRARY mbedtls)
if(NOT MBEDX509_LIBRARY OR NOT MBEDTLS_LIBRARY)
  message(FATAL_ERROR "mbedTLS not found: install it with `sudo apt-get install libmbedtls-dev`")
endif()
add_library(agentcron::mbedtls INTERFACE IMPORTED)
set_target_properties(agentcron::mbedtls PROPERTIES INTERFACE_LINK_LIBRARIES
                      "${MBEDTLS_LIBRARY};${MBEDX509_LIBRARY};agentcron::mbedcrypto")
if(AGENTCRON_TESTS)
  agentcron_require(CMOCKA cmocka libcmocka-dev)
endif()
