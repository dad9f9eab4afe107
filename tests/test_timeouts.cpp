#include "support/asyncio_test.hpp"
