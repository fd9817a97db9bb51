package io.megalith.core.data.shards;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class BlockCacheTest {
    @Test
    void evictsTheLeastRecentlyUsedAndNeverHoldsMoreThanItsCapacity() throws Exception {
        BlockCache cache = new BlockCache(2);
        AtomicInteger loads = new AtomicInteger();
        BlockCache.Loader loader = (shard, block) -> {
            loads.incrementAndGet();
            return new byte[] {(byte) shard, (byte) block};
        };
        cache.get(0, 0, loader);
        cache.get(0, 1, loader);
        cache.get(0, 0, loader); // (0, 0) is now the most recent
        cache.get(1, 0, loader); // evicts (0, 1)
        assertThat(cache.size()).isEqualTo(2);
        assertThat(loads).hasValue(3);
        assertThat(cache.get(0, 0, loader)).containsExactly(0, 0);
        assertThat(loads).hasValue(3);
        assertThat(cache.get(0, 1, loader)).containsExactly(0, 1);
        assertThat(loads).hasValue(4);
        assertThat(cache.misses()).isEqualTo(4);
        assertThat(cache.size()).isEqualTo(2);
    }
}
