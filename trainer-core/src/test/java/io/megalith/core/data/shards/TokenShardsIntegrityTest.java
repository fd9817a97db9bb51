package io.megalith.core.data.shards;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.megalith.core.data.tokenizer.CharTokenizer;
import java.io.FileNotFoundException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A prepared data set is used whole or not at all: damage is detected, unfinished writes are invisible. */
class TokenShardsIntegrityTest {
    private static final Configuration CONF = new Configuration();
    private static final CharTokenizer TOK = CharTokenizer.ofAlphabet("abcdefgh");

    @TempDir
    Path tmp;

    private String write(String name, int... tokens) throws Exception {
        return ShardSetWriter.write(tmp.resolve(name).toString(), CONF, TOK, ShardedTextDataTest.cut(tokens, 3),
                "fp-" + tokens.length, JsonNodeFactory.instance.objectNode().put("note", name));
    }

    private List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void theDirectoryHoldsShardsTokenizerAndIndexAndNothingElse() throws Exception {
        write("set", 0, 1, 2, 3, 4, 5, 6, 7);
        assertThat(names(tmp.resolve("set"))).containsExactly("index.json", "tokenizer.json", "tokens-00000.bin",
                "tokens-00001.bin");
        assertThat(names(tmp)).containsExactly("set"); // no temporaries, no .crc side files
        // uint16 little-endian: token 1 is the bytes 01 00
        byte[] shard0 = Files.readAllBytes(tmp.resolve("set/tokens-00000.bin"));
        assertThat(shard0).containsExactly(0, 0, 1, 0, 2, 0);
        ShardIndex ix = TokenShards.inspect(tmp.resolve("set").toString(), CONF);
        assertThat(ix.totalTokens()).isEqualTo(8);
        assertThat(ix.fingerprint()).isEqualTo("fp-8");
        assertThat(ix.input().path("note").asText()).isEqualTo("set");
        assertThat(ix.tokenizer().kind()).isEqualTo("char");
    }

    @Test
    void aFlippedBitIsFoundByTheChecksumWhenOpening() throws Exception {
        String dir = write("flip", 0, 1, 2, 3, 4, 5, 6, 7);
        try (RandomAccessFile f = new RandomAccessFile(tmp.resolve("flip/tokens-00001.bin").toFile(), "rw")) {
            f.seek(2);
            f.write(4 ^ 0x10); // token 4 becomes 20: still a valid id, only the checksum can tell
        }
        // the cheap check only sees sizes; opening reads and checksums everything
        assertThat(TokenShards.inspect(dir, CONF).totalTokens()).isEqualTo(8);
        assertThatThrownBy(() -> TokenShards.open(dir, CONF)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("tokens-00001.bin: CRC32C mismatch");
    }

    @Test
    void truncatedOrMissingFilesAndATamperedTokenizerAreRejected() throws Exception {
        String a = write("trunc", 0, 1, 2, 3, 4, 5);
        try (RandomAccessFile f = new RandomAccessFile(tmp.resolve("trunc/tokens-00000.bin").toFile(), "rw")) {
            f.setLength(4);
        }
        assertThatThrownBy(() -> TokenShards.inspect(a, CONF)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("tokens-00000.bin has 4 bytes, the index says 6");

        String b = write("gone", 0, 1, 2, 3, 4, 5);
        Files.delete(tmp.resolve("gone/tokens-00001.bin"));
        assertThatThrownBy(() -> TokenShards.open(b, CONF)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("tokens-00001.bin is missing");

        String c = write("tok", 0, 1, 2, 3, 4, 5);
        Files.writeString(tmp.resolve("tok/tokenizer.json"),
                Files.readString(tmp.resolve("tok/tokenizer.json")).replace("abcdefgh", "abcdefhg"));
        assertThatThrownBy(() -> TokenShards.open(c, CONF)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("tokenizer.json: SHA-256 mismatch");

        String d = write("idx", 0, 1, 2, 3, 4, 5);
        Files.writeString(tmp.resolve("idx/index.json"),
                Files.readString(tmp.resolve("idx/index.json")).replace("\"total_tokens\" : 6", "\"total_tokens\" : 7"));
        assertThatThrownBy(() -> TokenShards.open(d, CONF)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("shards hold 6 tokens, total_tokens says 7");
    }

    @Test
    void anUncommittedWriteLeavesNothingAtTheDestinationAndIsCleanedUpLater() throws Exception {
        String dest = tmp.resolve("data").toString();
        ShardSetWriter crashed = ShardSetWriter.begin(dest, CONF);
        ShardSetWriter.writeShard(crashed.workDir(), "s0", CONF, TokenDtype.UINT16, 8, w -> w.write(new int[] {1, 2}));
        // the process "dies" here: no commit, no close
        assertThat(Files.exists(tmp.resolve("data"))).isFalse();
        assertThat(names(tmp)).singleElement().asString().startsWith(".data.tmp-");
        assertThatThrownBy(() -> TokenShards.open(dest, CONF)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("no index.json");

        write("data", 7, 6, 5, 4);
        assertThat(names(tmp)).containsExactly("data"); // the leftover is gone
        int[] back = new int[4];
        TokenShards.open(dest, CONF).read(0, back);
        assertThat(back).containsExactly(7, 6, 5, 4);
    }

    @Test
    void aNewDataSetReplacesTheOldOneWhole() throws Exception {
        write("data", 1, 1, 1, 1, 1, 1, 1);
        String dest = write("data", 2, 2, 2, 2);
        TokenShards s = TokenShards.open(dest, CONF);
        assertThat(s.size()).isEqualTo(4);
        assertThat(s.token(3)).isEqualTo(2);
        assertThat(names(tmp)).containsExactly("data");
    }

    @Test
    void anAbortedWriteDeletesItsTemporaryAndLateShardsCannotRecreateIt() throws Exception {
        String workDir;
        try (ShardSetWriter w = ShardSetWriter.begin(tmp.resolve("x").toString(), CONF)) {
            workDir = w.workDir();
            ShardSetWriter.writeShard(workDir, "s0", CONF, TokenDtype.UINT16, 8, out -> out.write(new int[] {1}));
        }
        assertThat(names(tmp)).isEmpty();
        // a straggling Spark task of the aborted preparation
        assertThatThrownBy(() -> ShardSetWriter.writeShard(workDir, "s1", CONF, TokenDtype.UINT16, 8,
                out -> out.write(new int[] {1}))).isInstanceOf(FileNotFoundException.class);
        assertThat(names(tmp)).isEmpty();
    }

    @Test
    void idsOutsideTheVocabularyAreNeverStored() throws Exception {
        try (ShardSetWriter w = ShardSetWriter.begin(tmp.resolve("x").toString(), CONF)) {
            assertThatThrownBy(() -> ShardSetWriter.writeShard(w.workDir(), "s0", CONF, TokenDtype.UINT16, 8,
                    out -> out.write(new int[] {1, 8}))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("token id 8 outside [0, 8)");
        }
    }
}
