#define MEDULLA_PARSE_NS haswell
#include "json/parse_kernel.inc"
