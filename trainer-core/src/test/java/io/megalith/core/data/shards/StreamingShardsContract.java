package io.megalith.core.data.shards;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.megalith.core.data.Batch;
import io.megalith.core.data.tokenizer.CharTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;

/**
 * Streaming shards read exactly what in-memory shards hold; run against a local directory and against HDFS by the
 * subclasses. Blocks are tiny (a few KiB) so that a few thousand tokens span many blocks and the cache evicts.
 */
abstract class StreamingShardsContract {
    private static final int T = 32;

    /** A fresh directory (URI or local path) for a data set called {@code name}. */
    abstract String dir(String name) throws Exception;

    abstract Configuration conf();

    private record Prepared(String dir, CharTokenizer tok, int[] tokens) {}

    private Prepared prepare(String name, int chars) throws Exception {
        String text = ShardedTextDataTest.text(chars, 1);
        CharTokenizer tok = CharTokenizer.fit(text);
        int[] tokens = tok.encode(text);
        int n = tokens.length;
        // uneven shards, one empty: windows straddle boundaries, block edges fall anywhere inside shards
        String dir = ShardSetWriter.write(dir(name), conf(), tok, ShardedTextDataTest.cut(tokens, 1, n / 3, n / 3,
                n / 2 + 7, n - 40), "fp", JsonNodeFactory.instance.objectNode());
        return new Prepared(dir, tok, tokens);
    }

    @Test
    void streamedBatchesEqualInMemoryBatchesWithACacheSmallerThanTheData() throws Exception {
        Prepared p = prepare("batches", 50_000);
        ShardReading small = new ShardReading("true", 3, 4096); // ~100 KB of tokens, 12 KB of cache
        try (ShardedTextData memory = ShardedTextData.open(p.dir(), conf(), 0.1, T, 42);
                ShardedTextData streamed = ShardedTextData.open(p.dir(), conf(), small, 0.1, T, 42)) {
            assertThat(memory.shards().streaming()).isFalse();
            assertThat(streamed.shards().streaming()).isTrue();
            assertThat(streamed.describe()).contains("streamed");
            for (long step = 0; step < 300; step++) {
                int first = (int) (step % 5);
                int count = 1 + (int) (step % 7);
                Batch a = memory.train(step, first, count);
                Batch b = streamed.train(step, first, count);
                assertThat(b.inputs()).as("step %d", step).containsExactly(a.inputs());
                assertThat(b.targets()).as("step %d", step).containsExactly(a.targets());
                assertThat(streamed.shards().cachedBlocks()).isLessThanOrEqualTo(3);
            }
            for (int i = 0; i < 50; i++) {
                assertThat(streamed.validation(i, 6).inputs()).containsExactly(memory.validation(i, 6).inputs());
                assertThat(streamed.validation(i, 6).targets()).containsExactly(memory.validation(i, 6).targets());
            }
            long blocks = 2L * p.tokens().length / 4096 + 1;
            assertThat(streamed.shards().blockReads()).as("evictions forced re-reads").isGreaterThan(blocks);
            assertThat(streamed.shards().cachedBlocks()).isEqualTo(3);
        }
    }

    @Test
    void everyPositionAndWindowAcrossBoundariesIsTheStream() throws Exception {
        Prepared p = prepare("positions", 5_000);
        int[] tokens = p.tokens();
        int n = tokens.length;
        try (TokenShards s = TokenShards.open(p.dir(), conf(), new ShardReading("true", 2, 100))) {
            assertThat(s.size()).isEqualTo(n);
            for (int i = 0; i < n; i++) {
                assertThat(s.token(i)).isEqualTo(tokens[i]);
            }
            for (int from : new int[] {0, 1, n / 3 - 5, n / 2 + 7 - 300, n - 341, n - 300}) {
                int[] dst = new int[300];
                s.read(from, dst);
                assertThat(dst).as("from %d", from).containsExactly(Arrays.copyOfRange(tokens, from, from + 300));
            }
            int[] all = new int[n];
            s.read(0, all);
            assertThat(all).containsExactly(tokens);
            assertThat(s.cachedBlocks()).isEqualTo(2);
            assertThatThrownBy(() -> s.read(n - 10, new int[11])).isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    @Test
    void int32ShardsStream() throws Exception {
        int[] alphabet = new int[70_000];
        for (int i = 0; i < alphabet.length; i++) {
            alphabet[i] = 0x10000 + i;
        }
        CharTokenizer tok = CharTokenizer.ofAlphabet(new String(alphabet, 0, alphabet.length));
        int[] tokens = new int[3000];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 7919) % 70_000;
        }
        String dir = ShardSetWriter.write(dir("wide"), conf(), tok, ShardedTextDataTest.cut(tokens, 333, 1700), "fp",
                JsonNodeFactory.instance.objectNode());
        try (TokenShards s = TokenShards.open(dir, conf(), new ShardReading("true", 2, 1000))) {
            assertThat(s.index().dtype()).isEqualTo("int32");
            int[] back = new int[tokens.length];
            s.read(0, back);
            assertThat(back).containsExactly(tokens);
        }
    }

    @Test
    void concurrentReadersGetTheirWindowsAndTheCacheStaysBounded() throws Exception {
        Prepared p = prepare("concurrent", 30_000);
        int[] tokens = p.tokens();
        try (TokenShards s = TokenShards.open(p.dir(), conf(), new ShardReading("true", 4, 1024))) {
            ExecutorService pool = Executors.newFixedThreadPool(6);
            try {
                List<Future<Integer>> done = new ArrayList<>();
                for (int t = 0; t < 6; t++) {
                    long seed = t;
                    done.add(pool.submit(() -> {
                        Random rnd = new Random(seed);
                        for (int k = 0; k < 400; k++) {
                            int len = 1 + rnd.nextInt(600);
                            int from = rnd.nextInt(tokens.length - len + 1);
                            int[] dst = new int[len];
                            s.read(from, dst);
                            assertThat(dst).containsExactly(Arrays.copyOfRange(tokens, from, from + len));
                            assertThat(s.cachedBlocks()).isLessThanOrEqualTo(4);
                        }
                        return 400;
                    }));
                }
                for (Future<Integer> f : done) {
                    assertThat(f.get()).isEqualTo(400);
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void aFlippedByteIsRefusedAtOpenNamingTheShard() throws Exception {
        Prepared p = prepare("corrupt", 5_000);
        Path shard = new Path(p.dir(), "tokens-00002.bin");
        FileSystem fs = shard.getFileSystem(conf());
        byte[] bytes;
        try (FSDataInputStream in = fs.open(shard)) {
            bytes = in.readAllBytes();
        }
        bytes[bytes.length / 2] ^= 0x01;
        try (FSDataOutputStream out = fs.create(shard, true)) { // a valid file to the file system: only CRC32C sees it
            out.write(bytes);
        }
        for (String mode : new String[] {"true", "false"}) {
            assertThatThrownBy(() -> TokenShards.open(p.dir(), conf(), new ShardReading(mode, 4)))
                    .isInstanceOf(InvalidShardSetException.class).hasMessageContaining("tokens-00002.bin")
                    .hasMessageContaining("CRC32C mismatch");
        }
    }

    @Test
    void aTruncatedShardIsRefusedAtOpen() throws Exception {
        Prepared p = prepare("truncated", 5_000);
        Path shard = new Path(p.dir(), "tokens-00001.bin");
        FileSystem fs = shard.getFileSystem(conf());
        byte[] bytes;
        try (FSDataInputStream in = fs.open(shard)) {
            bytes = in.readAllBytes();
        }
        try (FSDataOutputStream out = fs.create(shard, true)) {
            out.write(bytes, 0, bytes.length - 2);
        }
        assertThatThrownBy(() -> TokenShards.open(p.dir(), conf(), new ShardReading("true", 4)))
                .isInstanceOf(InvalidShardSetException.class).hasMessageContaining("tokens-00001.bin");
    }

    @Test
    void autoLoadsSmallSetsIntoMemory() throws Exception {
        Prepared p = prepare("auto", 2_000);
        try (TokenShards s = TokenShards.open(p.dir(), conf(), new ShardReading("auto", 4))) {
            assertThat(s.streaming()).isFalse();
        }
        assertThat(new ShardReading("auto", 4).streams(ShardReading.AUTO_STREAM_BYTES + 1)).isTrue();
        assertThat(new ShardReading("false", 4).streams(Long.MAX_VALUE)).isFalse();
    }
}
