"""shared.messaging.partition_of: the partition Kafka's default partitioner gives a key, which decides the one
instance that fires a case's timers (sla) and sends its deliveries (sync).

Expected values from Kafka's own murmur2 test vectors (clients UtilsTest: murmur2("21") = -973932308, "abc" =
479470107, "a-little-bit-long-string" = -985981536, "a-little-bit-longer-string" = -1486304829), by hand:
(hash & 0x7fffffff) % partitions."""

import pytest

from shared.messaging import partition_of


@pytest.mark.parametrize(("key", "partitions", "expected"), [
    ("21", 6, 0),  # 2^31 - 973932308 = 1173551340 = 6 * 195591890
    ("abc", 6, 3),  # 479470107 = 6 * 79911684 + 3
    ("abc", 3, 0),  # 479470107 = 3 * 159823369
    ("a-little-bit-long-string", 6, 2),  # 2^31 - 985981536 = 1161502112 = 6 * 193583685 + 2
    ("a-little-bit-longer-string", 6, 5),  # 2^31 - 1486304829 = 661178819 = 6 * 110196469 + 5
    ("a-little-bit-longer-string", 1, 0),
])
def test_partition_of_matches_kafkas_default_partitioner(key: str, partitions: int, expected: int) -> None:
    assert partition_of(key, partitions) == expected
