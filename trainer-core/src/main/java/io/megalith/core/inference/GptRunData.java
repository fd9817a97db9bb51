package io.megalith.core.inference;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.AdditionData;
import io.megalith.core.data.PairsData;
import io.megalith.core.data.TextData;
import io.megalith.core.data.TrainingData;
import io.megalith.core.data.shards.ShardedTextData;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.train.BaseRun;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;

/**
 * The data a saved GPT run trained on, rebuilt from its saved config and the checkpoint's tokenizer as
 * family/gpt/GptRun builds it (same split, same seed), so that its validation batches are the ones training
 * evaluated on. Data paths are relative to the working directory, as in training.
 */
final class GptRunData {
    private GptRunData() {}

    /**
     * @param tokenizer the checkpoint's; the data gets its own copy (closing the data closes its tokenizer)
     * @param preparedDir the token shards Spark prepared for a text run, or null to tokenize data.path here (as
     *     also when the shards were written with another tokenizer than the checkpoint's)
     */
    static TrainingData open(MegalithConfig cfg, Tokenizer tokenizer, String preparedDir, Configuration hadoop)
            throws IOException {
        MegalithConfig.Data d = cfg.data();
        byte[] tokenizerBytes = Tokenizers.toBytes(tokenizer);
        switch (d.task()) {
            case "addition":
                return new AdditionData(d.digits(), d.heldOutFraction(), cfg.seed());
            case "pairs":
                // the built-in pairs take their words from the base run's text, as in training
                return PairsData.of(cfg.pairsSource(), Tokenizers.fromBytes(tokenizerBytes),
                        BaseRun.savedDataPath(cfg.checkpoint().initFrom(), hadoop), true, hadoop);
            case "text":
                TrainingData shards = preparedDir == null ? null : prepared(cfg, tokenizerBytes, preparedDir, hadoop);
                return shards != null ? shards : text(cfg, Tokenizers.fromBytes(tokenizerBytes), hadoop);
            default:
                throw new IllegalArgumentException("data.task " + d.task() + " of a GPT run has no validation split");
        }
    }

    private static TrainingData text(MegalithConfig cfg, Tokenizer tok, Configuration hadoop) throws IOException {
        MegalithConfig.Data d = cfg.data();
        byte[] text;
        try {
            text = RunDirFs.readFully(d.path(), hadoop);
        } catch (FileNotFoundException e) {
            tok.close();
            throw new FileNotFoundException("data.path " + d.path() + " of the run's saved config: " + e.getMessage()
                    + " (a relative path is read from the working directory, as in training)");
        }
        return new TextData(tok, tok.encode(new String(text, StandardCharsets.UTF_8)), d.valFraction(),
                cfg.model().blockSize(), cfg.seed());
    }

    /**
     * The shards, if the checkpoint's tokenizer wrote them; null if not (shards another run prepared in a shared
     * data.cache_dir, or a run that tokenized in process: a fine-tune or distillation keeps its base's token ids).
     */
    private static TrainingData prepared(MegalithConfig cfg, byte[] tokenizer, String dir, Configuration hadoop)
            throws IOException {
        MegalithConfig.Data d = cfg.data();
        ShardedTextData shards = ShardedTextData.open(dir, hadoop, d.shardReading(), d.valFraction(),
                cfg.model().blockSize(), cfg.seed());
        if (!Arrays.equals(tokenizer, Tokenizers.toBytes(shards.tokenizer()))) {
            shards.close();
            return null;
        }
        return shards;
    }
}
