import type { VersionStatistics } from '../../core/inference/model-statistics';
import type { V2ModelStatisticsDto } from './dto/v2-statistics.dto';

/**
 * The core's statistics as Triton's statistics extension answers them, over HTTP and gRPC alike:
 * the version as a string, and no memory usage measured.
 */
export function toModelStatistics(stats: VersionStatistics[]): V2ModelStatisticsDto {
  return {
    model_stats: stats.map((version) => ({
      ...version,
      version: String(version.version),
      memory_usage: [],
    })),
  };
}
