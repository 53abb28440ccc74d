#ifndef TOKENWATCH_CRDKAFKA_SHIM_H
#define TOKENWATCH_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
