#define MEDULLA_PARSE_NS generic
#include "json/parse_kernel.inc"
