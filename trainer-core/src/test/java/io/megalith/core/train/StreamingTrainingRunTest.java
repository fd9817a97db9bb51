package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.CONF;
import static io.megalith.core.train.TinyRuns.QUIET;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.megalith.comm.RankGroups;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.shards.ShardSetWriter;
import io.megalith.core.data.tokenizer.CharTokenizer;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.gpt.GptRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** data.streaming reaches the run: a streamed run trains exactly as the in-memory one on the same shards. */
class StreamingTrainingRunTest {
    @TempDir
    Path tmp;

    @Test
    void streamedAndInMemoryRunsHaveTheSameLosses() throws Exception {
        Path text = TinyRuns.writeText(tmp, 20_000);
        String s = Files.readString(text);
        CharTokenizer tok = CharTokenizer.fit(s);
        int[] tokens = tok.encode(s);
        List<int[]> pieces = new ArrayList<>();
        for (int from = 0; from < tokens.length; from += 3001) { // boundaries every 3001 tokens
            pieces.add(Arrays.copyOfRange(tokens, from, Math.min(tokens.length, from + 3001)));
        }
        String prepared = ShardSetWriter.write(tmp.resolve("prepared").toString(), CONF, tok, pieces, "fp",
                JsonNodeFactory.instance.objectNode());

        List<Double> memory = losses(tmp.resolve("memory"), text, prepared, false, "data.streaming=false");
        // 4 blocks of 1 KiB for ~36 KiB of tokens: the cache evicts all the time
        List<Double> streamed = losses(tmp.resolve("streamed"), text, prepared, true, "data.streaming=true",
                "data.stream_cache_blocks=4", "data.stream_block_kib=1");
        assertThat(memory).hasSize(13);
        assertThat(streamed).containsExactlyElementsOf(memory);
    }

    private static List<Double> losses(Path runDir, Path text, String prepared, boolean streams, String... sets)
            throws Exception {
        MegalithConfig cfg = TinyRuns.text(runDir, text, sets);
        TrainingRun.Summary summary;
        try (TrainingRun run = ModelFamilies.GPT.newRun(cfg, CONF, QUIET, RankGroups.single(), true, prepared)) {
            assertThat(((GptRun) run.rankModel()).data().describe()).contains(streams ? "streamed" : "in memory");
            summary = run.run();
        }
        List<Double> out = new ArrayList<>(TinyRuns.series(TinyRuns.metrics(cfg), "loss"));
        out.add(summary.valLoss()); // validation batches come from the split's end: the last shards
        return out;
    }
}
