FROM node:20-alpine as Build
WORKDIR src
COPY package*.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:20-alpine
ARG NPM_TOKEN=changeme
ENV NODE_ENV production
WORKDIR /app
COPY --from=Build /src/dist ./dist
COPY .env ./
EXPOSE 3000
USER node
HEALTHCHECK --interval=30s CMD wget -qO- http://localhost:3000/health || exit 1
CMD ["node", "dist/server.js"]
