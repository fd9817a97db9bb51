package io.megalith.core.data.shards;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A bounded LRU cache of fixed-size blocks of shard files, shared by the threads that sample windows.
 *
 * <p>A miss is read outside the lock, so one slow read does not stall threads that hit; two threads missing the
 * same block may both read it (the first to insert wins). The map never holds more than {@code capacity} blocks;
 * a block a thread is still decoding after its eviction is garbage once that thread is done.
 */
final class BlockCache {
    /** Reads block {@code block} of shard {@code shard}. */
    interface Loader {
        byte[] load(int shard, long block) throws IOException;
    }

    private record Key(int shard, long block) {}

    private final int capacity;
    private final Map<Key, byte[]> blocks;
    private long misses;

    BlockCache(int capacity) {
        this.capacity = capacity;
        this.blocks = new LinkedHashMap<>(16, 0.75f, true) { // access order: the eldest is the least recently used
            @Override
            protected boolean removeEldestEntry(Map.Entry<Key, byte[]> eldest) {
                return size() > BlockCache.this.capacity;
            }
        };
    }

    byte[] get(int shard, long block, Loader loader) throws IOException {
        Key k = new Key(shard, block);
        synchronized (this) {
            byte[] b = blocks.get(k);
            if (b != null) {
                return b;
            }
            misses++;
        }
        byte[] loaded = loader.load(shard, block);
        synchronized (this) {
            byte[] raced = blocks.putIfAbsent(k, loaded);
            return raced != null ? raced : loaded;
        }
    }

    int capacity() {
        return capacity;
    }

    synchronized int size() {
        return blocks.size();
    }

    synchronized long misses() {
        return misses;
    }
}
