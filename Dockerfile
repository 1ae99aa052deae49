# The gateway server for ECS Fargate: the `gateway` command running `gateway serve --aws` (the API
# on the stack's DynamoDB table with the KMS/Secrets Manager CA key, the HTTP server, the sweep
# loop; configured by the task's environment, see `gateway serve --help`). Stage 1 bundles the
# command with esbuild (lib/bundles.ts); stage 2 is Node.js and that one file. `cdk synth` only
# copies this context; the image is built at deploy.
FROM public.ecr.aws/docker/library/node:22-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY lib/bundles.ts lib/paths.ts ./lib/
RUN npx tsx lib/bundles.ts --server /out/gateway.js

FROM public.ecr.aws/docker/library/node:22-slim
ENV NODE_ENV=production NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /out/ ./
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/app/gateway.js"]
CMD ["serve", "--aws", "--host", "0.0.0.0"]
